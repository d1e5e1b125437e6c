"""The use cases every edge calls: they take ports and publish a typed event for every change they make."""
