"""The coders\x27 review pages: server-rendered Dutch HTML with a little JavaScript."""
