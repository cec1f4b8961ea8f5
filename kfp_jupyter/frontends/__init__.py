"""What the front ends (cli/, jupyter/, server/) share and none of them owns: the options of
`run` and `submit`, declared once so that a user who learns one front end knows them all."""
