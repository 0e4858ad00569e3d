# A script that ends with sys.exit(3): fastscratch run must pass the status on.
import sys
print("argv:", " ".join(sys.argv[1:]))
print("cwd is script dir:", __import__("os").getcwd() == __import__("os").path.dirname(__file__))
print("name:", __name__)
sys.exit(3)
