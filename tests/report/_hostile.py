"""Names and sources that would run script if a report pasted them into HTML unescaped."""

EVIL_NAME = "evil/<script>alert(1)</script>"
EVIL_SOURCE = '"><img src=x onerror=alert(1)>'
