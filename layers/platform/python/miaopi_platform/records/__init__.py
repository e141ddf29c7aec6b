"""The shared kernel every capability reads and writes: the application and its immutable
decision record (ids, seal, the auditors' index keys, the application view) and their store."""
