"""Content service: news from home and abroad, posts, moderation and the events calendar."""
