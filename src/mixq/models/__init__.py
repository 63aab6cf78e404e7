"""mixq.models"""
