"""Reading the secretariat's YAML and the service's settings from the environment."""
