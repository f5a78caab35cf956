"""Opportunities service: jobs, investments, tenders and scholarships for the diaspora."""
