"""A real ``crewai.Crew`` with a custom tool, as a CrewAI user writes it (no Nexod imports):
the server points its agents' models at NEXOD_LLM."""

from __future__ import annotations

from crewai import Agent, Crew, Process, Task
from crewai.tools import BaseTool
from pydantic import BaseModel, Field


class StatsInput(BaseModel):
    """What the tool takes."""

    query: str = Field(description="The text to measure.")


class WordStats(BaseTool):
    """Counts the words of a text and signs the answer, so a test can tell the tool ran."""

    name: str = "word_stats"
    description: str = "Count the words in a text."
    args_schema: type[BaseModel] = StatsInput

    def _run(self, query: str) -> str:
        return f"'{query}' has {len(query.split())} words (checksum {sum(map(ord, query))})"


researcher = Agent(role="{topic} Researcher", goal="Find facts about {topic}",
                   backstory="You measure before you write.", tools=[WordStats()])
writer = Agent(role="Writer", goal="Write a note about {topic}", backstory="You write briefly.")
research = Task(name="research", description="Research {topic} with the word_stats tool",
                expected_output="Facts about {topic}", agent=researcher)
write = Task(name="write", description="Write a note on {topic}", expected_output="A short note",
             agent=writer, context=[research])
crew = Crew(agents=[researcher, writer], tasks=[research, write], process=Process.sequential)


def make_crew() -> Crew:
    """The same crew from a factory (a fresh one per run)."""
    return crew.copy()
