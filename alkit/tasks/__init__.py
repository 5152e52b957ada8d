"""What the loop trains, evaluates and queries: the classification task (paper Sec. 3) and the
click-budget segmentation task (Sec. 4), both implementing :class:`alkit.protocol.loop.Task`."""
