"""``splitbrain compare``: the Dynamo-to-DynamoDB trade-offs as a measurement. The same workload,
seed and fault schedule run against each mode; :mod:`.measure` reads every figure from the runs'
own histories and results, :mod:`.design` states each mode's design, :mod:`.render` writes the
table, paragraph and figure, and :mod:`.run` runs it all.

Imports the harness (to run tests) and the reports (for the page); nothing imports it but the
command line."""
