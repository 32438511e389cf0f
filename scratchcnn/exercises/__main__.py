"""python -m scratchcnn.exercises list | start NAME | check NAME | hint NAME"""
import sys

from .cli import main

sys.exit(main())
