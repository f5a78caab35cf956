"""Payments service: remittances home through licensed partners, with an exact double-entry record."""
