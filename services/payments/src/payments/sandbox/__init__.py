"""A sandbox pay-in provider and payout partners, served over HTTP (``python -m payments.sandbox``)."""
