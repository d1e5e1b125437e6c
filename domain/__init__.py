"""The commission's world and its rules; imports nothing of Plenary's own packages."""
