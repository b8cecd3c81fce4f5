"""An example splitbrain plugin: a max-register model, workload and checker."""
