"""The model: the synthetic society, the day's modules, the rules, and the backends that run them.

Nothing here knows of files or folders: the engine is handed the streams it
writes (model/streams.py) and gives its state to whoever keeps checkpoints.
"""
