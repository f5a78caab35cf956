"""Opportunity rules: postings, applications and matching. No I/O."""
