// placeholder until the context lands
