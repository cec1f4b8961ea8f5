"""kfp-jupyter in the notebook: IPython magics (`%load_ext kfp_jupyter`) and the pipeline widget.

Nothing is imported here: the magics need IPython and the widget needs anywidget, and importing
kfp_jupyter must stay cheap for the CLI.
"""
