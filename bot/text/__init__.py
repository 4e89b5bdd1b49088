"""Text: HTML to plain text and Markdown, cleaning of invisible characters, cutting and
counting, hashtags, and the toolkit platforms render their posts with (``render``)."""
