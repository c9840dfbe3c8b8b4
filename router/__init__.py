"""EdgeFleet router: the gRPC front door, routing, hosted adapters and accounting."""
