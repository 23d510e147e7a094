"""The imperative shell: invocations, the step executor, the checkpoint writer."""
