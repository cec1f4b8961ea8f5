"""The cluster engines a pipeline can be sent to.

A module of its own that imports nothing, so that the option tables every front end builds from
(frontends/options.py) can name the engines without loading the cluster clients and their
configuration: `kfp-jupyter compile` never needs those.
"""

ENGINES = ("kfp", "argo")
