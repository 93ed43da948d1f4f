"""Release helper packages as wheels into a private pypiserver and record them in the lock."""
