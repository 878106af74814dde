"""Knowledge distillation (issue 23): a student trained on the gold labels and a teacher's word distributions."""
