"""worker part of jupyter_futures."""
