"""checkers/linearizable"""
