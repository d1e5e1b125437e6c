"""Everything a person reads: templates per language, rendered with their time zone and locale."""
