"""Example probe files (`local.yaml`, `railiance.yaml`) and the local servers `local.yaml` probes."""
