from openlfr.cli import main

if __name__ == "__main__":  # guarded: worker processes (multiprocessing spawn) re-import this module
    main()
