"""cluster part of jupyter_futures."""
