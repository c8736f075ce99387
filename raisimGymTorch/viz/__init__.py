"""Showing a policy: the offscreen video recorder, the live browser viewer and MuJoCo's own window."""
