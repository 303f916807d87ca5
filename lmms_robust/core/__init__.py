"""Pure core: items, perturbations, parsing and metric math. Imports neither torch nor lmms_eval."""
