"""Help in the window: the Getting Started guide and the Glossary."""
