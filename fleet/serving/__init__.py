"""The data plane on each node: replicas serving KServe v2 over gRPC, the OpenVINO runtime they
run, their serving statistics, and the node agent. No Ray here: the Ray adapter hosts these
classes as actors."""
