"""Use cases, one transaction per method: migration, self-service, provisioning, site editing,
activation, bulk tasks, BAT, reports, demo."""
