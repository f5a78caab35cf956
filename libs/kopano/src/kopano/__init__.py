"""Platform kit shared by every Kopano service."""
