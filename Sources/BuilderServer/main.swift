import ArgumentParser
import Logging
import KilnAuth
import KilnConfiguration
print("placeholder")
