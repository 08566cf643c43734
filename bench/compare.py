def add_commands(sub, spec_options, number):
    pass
