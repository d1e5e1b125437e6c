"""Planning notices and delivering them on time: the plan, the timers, the dispatcher."""
