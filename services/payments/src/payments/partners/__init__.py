"""The licensed partners Kopano orchestrates: a pay-in provider and payout partners."""
