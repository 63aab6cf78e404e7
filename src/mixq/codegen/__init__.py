"""mixq.codegen"""
