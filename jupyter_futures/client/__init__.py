"""client part of jupyter_futures."""
