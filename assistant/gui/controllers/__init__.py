"""One controller per area of the main window, each owning its widgets' signals and its jobs.

`MainWindow` builds them bottom-up (a controller gets the ones it calls, never the other way
round) and only lays their widgets out; see the README's Design section for the map.
"""
