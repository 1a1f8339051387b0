// nest1: HTTP front. GET /kafka emits an "order created" event to Kafka; GET /quote asks nest2
// for a quote over Kafka (request-reply, `ClientKafka.send`). Both answer with the trace id, so a
// caller can find the whole trace.
import './tracer';
import 'reflect-metadata';
import { Controller, Get, Inject, Module, OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientKafka, ClientsModule, Transport } from '@nestjs/microservices';
import { trace } from '@opentelemetry/api';
import { lastValueFrom } from 'rxjs';
import { ORDER_CREATED, ORDER_QUOTE, brokers, ensureTopics, groupPrefix } from '../topics';

@Controller()
class AppController implements OnModuleInit {
  constructor(
    @Inject('ORDERS') private readonly kafka: ClientKafka,
    @Inject('QUOTES') private readonly quotes: ClientKafka,
  ) {}

  async onModuleInit() {
    await this.kafka.connect();
    this.quotes.subscribeToResponseOf(ORDER_QUOTE);
    await this.quotes.connect();
  }

  @Get('quote')
  async quote() {
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    const quote = await lastValueFrom(this.quotes.send(ORDER_QUOTE, { item: 'book' }));
    return { traceId, quote };
  }

  @Get('kafka')
  async order() {
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    await lastValueFrom(this.kafka.emit(ORDER_CREATED, { id: Date.now(), item: 'book' }));
    return { traceId };
  }
}

@Module({
  imports: [
    ClientsModule.register([
      { name: 'ORDERS', transport: Transport.KAFKA, options: { client: { clientId: 'nest1', brokers }, producerOnlyMode: true } },
      {
        name: 'QUOTES',
        transport: Transport.KAFKA,
        options: { client: { clientId: 'nest1-quotes', brokers }, consumer: { groupId: `${groupPrefix}nest1-quotes` }, subscribe: { fromBeginning: true } },
      },
    ]),
  ],
  controllers: [AppController],
})
class AppModule {}

async function bootstrap() {
  await ensureTopics([`${ORDER_QUOTE}.reply`]);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1');
  console.log(`nest1 ready on ${await app.getUrl()}`);
}
bootstrap();
