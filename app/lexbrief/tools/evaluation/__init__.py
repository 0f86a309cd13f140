"""`lexbrief eval`: summary quality against human reference summaries.

ROUGE-1/2/L (`rouge`), faithfulness of numbers, dates, amounts, section references and party
names (`faithfulness`), citation validity (`citation_check`), for two strategies run on the same
model (`strategies`: one truncated prompt vs LexBrief's map-reduce pipeline).
"""
