"""The router: gRPC front door, validation, routing engine, edge and hosted clients, accounting.
It never imports the fleet: it reads a :class:`router.fleet_source.FleetSource`."""
