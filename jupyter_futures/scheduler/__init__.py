"""scheduler part of jupyter_futures."""
