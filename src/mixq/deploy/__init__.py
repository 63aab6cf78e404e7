"""mixq.deploy"""
