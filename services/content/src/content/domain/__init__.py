"""Content rules: posts, moderation, comments, reactions and gatherings. No I/O."""
